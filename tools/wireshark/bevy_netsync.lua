-- Wireshark and tshark dissector for bevy_netsync captures: the pcapng files a NetCapture
-- (or the arena's --capture FILE) writes, link type LINKTYPE_USER0 (147).
--
-- Each packet is a 12-byte header, then one renet message as the crate sent or read it:
--   0      header version (1)
--   1      direction: 0 sent, 1 received, by the side that captured
--   2      side that captured: 0 server, 1 client
--   3      renet channel: 0 reliable, 1 unreliable
--   4..12  client id, little-endian (on a client: its own id once welcomed, else 0)
--   12..   the message: its first byte is the frame kind (src/shared/wire/mod.rs)
--
-- Use it once:      tshark -X lua_script:tools/wireshark/bevy_netsync.lua -r server.pcapng
-- or install it:    cp tools/wireshark/bevy_netsync.lua ~/.local/lib/wireshark/plugins/
--
-- Filterable fields: bevy_netsync.direction, .side, .channel, .client_id, .from, .kind,
-- .kind_byte, .seq, .tick, .message_index, .protocol, .length. For example:
--   bevy_netsync.kind == "STATE" && bevy_netsync.client_id == 3
-- The packet comment (frame.comment) holds the decoded frame; it is also the Info column.

local netsync = Proto("bevy_netsync", "bevy_netsync")

local directions = { [0] = "sent", [1] = "received" }
local sides = { [0] = "server", [1] = "client" }
local channels = { [0] = "reliable", [1] = "unreliable" }
local server_kinds = {
    [0] = "WELCOME", [1] = "DISCONNECT", [2] = "STATE", [3] = "SLICE", [4] = "MESSAGE",
    [6] = "INPUT_TIMING",
}
local client_kinds = { [0] = "HELLO", [1] = "UPDATE", [2] = "MESSAGE", [3] = "GOODBYE", [4] = "AUTHORITY" }

local fields = {
    version = ProtoField.uint8("bevy_netsync.version", "Header version"),
    direction = ProtoField.uint8("bevy_netsync.direction", "Direction", base.DEC, directions),
    side = ProtoField.uint8("bevy_netsync.side", "Captured by", base.DEC, sides),
    channel = ProtoField.uint8("bevy_netsync.channel", "Channel", base.DEC, channels),
    client_id = ProtoField.uint64("bevy_netsync.client_id", "Client id"),
    from = ProtoField.string("bevy_netsync.from", "Frame from"),
    length = ProtoField.uint32("bevy_netsync.length", "Message bytes"),
    kind_byte = ProtoField.uint8("bevy_netsync.kind_byte", "Kind byte"),
    kind = ProtoField.string("bevy_netsync.kind", "Frame kind"),
    seq = ProtoField.uint16("bevy_netsync.seq", "Frame id"),
    tick = ProtoField.uint32("bevy_netsync.tick", "Tick"),
    message_index = ProtoField.uint32("bevy_netsync.message_index", "Message index"),
    protocol = ProtoField.uint64("bevy_netsync.protocol", "Protocol hash", base.HEX),
    payload = ProtoField.bytes("bevy_netsync.payload", "Payload"),
}
local field_list = {}
for _, field in pairs(fields) do
    table.insert(field_list, field)
end
netsync.fields = field_list

local comment_field = Field.new("frame.comment")

-- An unsigned LEB128 varint at `offset`: its value (exact up to 2^53) and its length in bytes,
-- or nil when the message ends first.
local function varint(tvb, offset)
    local value, scale, at = 0, 1, offset
    while at < tvb:len() do
        local byte = tvb(at, 1):uint()
        at = at + 1
        value = value + (byte % 128) * scale
        if byte < 128 then
            return value, at - offset
        end
        scale = scale * 128
    end
    return nil, at - offset
end

-- Adds a varint field at `offset`; returns the offset after it, or nil.
local function add_varint(tree, field, tvb, offset)
    local value, length = varint(tvb, offset)
    if value == nil then
        return nil
    end
    tree:add(field, tvb(offset, length), value)
    return offset + length
end

-- What follows the kind byte of a frame the server wrote.
local function server_frame(tree, tvb, kind)
    local size = tvb:len()
    if kind == "STATE" and size >= 19 then
        -- Bit-packed, least significant bit first: frame id and tick are whole bytes.
        tree:add_le(fields.seq, tvb(13, 2))
        tree:add_le(fields.tick, tvb(15, 4))
    elseif kind == "SLICE" and size >= 15 then
        tree:add_le(fields.seq, tvb(13, 2))
    elseif kind == "WELCOME" then
        local _, id_length = varint(tvb, 13)
        add_varint(tree, fields.tick, tvb, 13 + id_length)
    elseif kind == "MESSAGE" then
        local at = add_varint(tree, fields.message_index, tvb, 13)
        at = at and add_varint(tree, fields.tick, tvb, at)
        if at and at < size then
            tree:add(fields.payload, tvb(at))
        end
    end
end

-- What follows the kind byte of a frame a client wrote.
local function client_frame(tree, tvb, kind)
    local size = tvb:len()
    if kind == "HELLO" and size >= 21 then
        tree:add_le(fields.protocol, tvb(13, 8))
    elseif kind == "MESSAGE" then
        local at = add_varint(tree, fields.message_index, tvb, 13)
        if at and at < size then
            tree:add(fields.payload, tvb(at))
        end
    end
end

function netsync.dissector(tvb, pinfo, tree)
    if tvb:len() < 12 then
        return 0
    end
    pinfo.cols.protocol = "bevy_netsync"
    local direction = tvb(1, 1):uint()
    local side = tvb(2, 1):uint()
    local from_server = (side == 0) == (direction == 0)
    local subtree = tree:add(netsync, tvb(), "bevy_netsync")
    subtree:add(fields.version, tvb(0, 1))
    subtree:add(fields.direction, tvb(1, 1))
    subtree:add(fields.side, tvb(2, 1))
    subtree:add(fields.channel, tvb(3, 1))
    subtree:add_le(fields.client_id, tvb(4, 8))
    subtree:add(fields.from, tvb(1, 2), from_server and "server" or "client")

    local kind = "empty"
    if tvb:len() > 12 then
        subtree:add(fields.length, tvb(12), tvb:len() - 12)
        local byte = tvb(12, 1):uint()
        local kinds = from_server and server_kinds or client_kinds
        kind = kinds[byte] or ("unknown " .. byte)
        subtree:add(fields.kind_byte, tvb(12, 1))
        subtree:add(fields.kind, tvb(12, 1), kind)
        if from_server then
            server_frame(subtree, tvb, kind)
        else
            client_frame(subtree, tvb, kind)
        end
    end

    local comment = comment_field()
    if comment then
        pinfo.cols.info = tostring(comment.value)
    else
        pinfo.cols.info = (directions[direction] or "?") .. " " .. kind
    end
    return tvb:len()
end

local user0 = (wtap_encaps and wtap_encaps.USER0) or (wtap and wtap.USER0) or 45
DissectorTable.get("wtap_encap"):add(user0, netsync)
