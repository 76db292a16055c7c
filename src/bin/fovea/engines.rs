//! `fovea engines build` and `fovea kernels`.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use fovea::infer::manifest::Manifest;

use crate::args::*;

pub(crate) fn engines(c: EnginesCommand) -> anyhow::Result<ExitCode> {
    use fovea::infer::manifest::Precision;
    let EnginesCommand::Build(a) = c;
    let precision = if a.int8 {
        Precision::Int8
    } else if a.fp32 {
        Precision::Fp32
    } else {
        Precision::Fp16
    };
    let manifest = Manifest::load(&a.model)?;
    let calibration_table = match &a.calib {
        Some(c) => Some(fovea::infer::provider::find_calibration_table(c, &manifest)?),
        None => None,
    };
    let files = fovea::infer::engines::engine_files(&manifest, precision, a.batch);
    eprintln!("fovea engines build: {} ({}) -> TensorRT {precision}, batch {}, on {}", manifest.name, a.model.display(), a.batch, a.device);
    eprintln!("  [1/3] engine cache {}, EPContext model {}", files.cache_dir.display(), files.ep_context_model.display());
    eprintln!("  [2/3] building the engine (TensorRT tunes every layer: minutes, once per GPU model and TensorRT version)");
    // Progress while ONNX Runtime builds (a blocking call): a spinner with the elapsed time on a
    // terminal, a line every 15 s otherwise (logs, CI).
    let t = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = if std::io::stderr().is_terminal() {
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_style(indicatif::ProgressStyle::with_template("        {spinner} {elapsed} building {msg}").expect("valid template"));
        spinner.set_message(format!("{}.{precision}", manifest.name));
        spinner.enable_steady_tick(std::time::Duration::from_millis(250));
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            spinner.finish_and_clear();
        })
    } else {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut next = 15;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if t.elapsed().as_secs() >= next {
                    eprintln!("        still building: {} s", next);
                    next += 15;
                }
            }
        })
    };
    let built = fovea::infer::engines::build_engine(&manifest, &a.device, precision, calibration_table, a.batch);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    let built = built?;
    eprintln!("        built in {:.1} s: {}", built.build_s, built.provider);
    eprintln!(
        "  [3/3] verified with one inference; EPContext model {} ({} bytes)",
        built.ep_context_model.display(),
        built.ep_context_bytes
    );
    eprintln!("        runs with --provider tensorrt --precision {precision} now load it instead of rebuilding");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn kernels(a: KernelsArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for m in fovea::kernels::MODULES {
        std::fs::write(a.out.join(format!("{}.cu", m.name)), m.source)?;
        if let Some(ptx) = m.ptx {
            std::fs::write(a.out.join(format!("{}.ptx", m.name)), ptx)?;
        }
        let ptx = if m.ptx.is_some() { "source + PTX" } else { "source only (no CUDA compiler at build time)" };
        eprintln!("fovea kernels: {} ({}): {ptx}", m.name, m.kernels.join(", "));
    }
    eprintln!("  PTX compiler  {}", fovea::kernels::PTX_COMPILER.unwrap_or("none"));
    Ok(ExitCode::SUCCESS)
}
