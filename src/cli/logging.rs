//! How `taem` logs: set up once, from `TAEM_LOG`, `RUST_LOG` and
//! `TAEM_LOG_FORMAT` (read after `.env`); a value that is not valid stops taem.

/// Logging as `TAEM_LOG` (else `RUST_LOG`, else `default`) and
/// `TAEM_LOG_FORMAT` say; a value that is not valid is an error naming it.
pub(super) fn init(default: &str) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut filter = match (set("TAEM_LOG"), set("RUST_LOG")) {
        (Some(v), _) => EnvFilter::try_new(&v).map_err(|e| {
            format!("TAEM_LOG: {v:?} is not a log filter such as info,taem=debug ({e})")
        })?,
        (None, Some(v)) => EnvFilter::try_new(&v)
            .map_err(|e| format!("RUST_LOG: {v:?} is not a log filter ({e})"))?,
        (None, None) => EnvFilter::new(default),
    };
    let json = match set("TAEM_LOG_FORMAT").as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(format!("TAEM_LOG_FORMAT: {other:?}: use text or json"));
        }
    };
    // Whatever the level: teloxide logs an update it cannot parse or does not
    // handle whole (a customer's words and name), so those two are silenced.
    for quiet in [
        "teloxide::dispatching::dispatcher=off",
        "teloxide::update_listeners::webhooks=off",
    ] {
        filter = filter.add_directive(quiet.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}
