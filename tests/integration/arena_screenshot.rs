//! The arena in a real window: a headless server, a bot, and a client window under Xvfb that
//! takes a screenshot; the picture must not be blank. Skipped (with a message) where no X
//! server can be started.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Kills a child process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arena_binary() -> PathBuf {
    // tests run from target/<profile>/deps; `cargo test` builds examples next to it.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/arena")
}

fn has_xvfb() -> bool {
    Command::new("xvfb-run")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn the_arena_window_shows_a_picture() {
    if !has_xvfb() {
        eprintln!("skipping: xvfb-run not found (apt-get install xvfb mesa-vulkan-drivers)");
        return;
    }
    let arena = arena_binary();
    assert!(arena.exists(), "{} was not built", arena.display());

    let mut server = Running(
        Command::new(&arena)
            .args(["server", "--bind", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let port = lines
        .find_map(|line| {
            let line = line.ok()?;
            let rest = line.split("listening on port ").nth(1)?;
            rest.split_whitespace().next()?.parse::<u16>().ok()
        })
        .expect("the server printed its port");
    let address = format!("127.0.0.1:{port}");

    let _bot = Running(
        Command::new(&arena)
            .args([
                "bots",
                "--count",
                "1",
                "--connect",
                &address,
                "--duration",
                "60",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let shot = std::env::temp_dir().join(format!("arena-shot-{}.png", std::process::id()));
    let _ = std::fs::remove_file(&shot);
    let mut client = Running(
        Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x720x24"])
            .arg(&arena)
            .args(["client", "--connect", &address, "--name", "camera"])
            .arg("--screenshot")
            .arg(&shot)
            .args(["--exit-after", "12"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = client.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the client did not exit"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut errors = String::new();
    if let Some(stderr) = client.0.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("ERROR") || line.contains("panicked") {
                errors.push_str(&line);
                errors.push('\n');
            }
        }
    }
    if !status.success() && !shot.exists() {
        eprintln!("skipping: the window could not be opened under Xvfb ({status}):\n{errors}");
        return;
    }
    assert!(
        shot.exists(),
        "no screenshot was written ({status}):\n{errors}"
    );

    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), (1280, 720));
    let channels = frame.color_type.samples();
    let mut colors = std::collections::HashSet::new();
    let mut brightness = Vec::new();
    for pixel in pixels[..frame.buffer_size()].chunks(channels) {
        colors.insert((pixel[0] >> 2, pixel[1] >> 2, pixel[2] >> 2));
        brightness.push(f64::from(pixel[0]) + f64::from(pixel[1]) + f64::from(pixel[2]));
    }
    let mean = brightness.iter().sum::<f64>() / brightness.len() as f64;
    let spread = (brightness.iter().map(|b| (b - mean).powi(2)).sum::<f64>()
        / brightness.len() as f64)
        .sqrt();
    eprintln!(
        "screenshot {}: {} colours, brightness {mean:.0} ± {spread:.0}",
        shot.display(),
        colors.len()
    );
    assert!(colors.len() > 50, "only {} colours: blank?", colors.len());
    assert!(
        spread > 10.0,
        "flat picture: brightness {mean:.0} ± {spread:.0}"
    );
    let _ = std::fs::remove_file(&shot);
}
