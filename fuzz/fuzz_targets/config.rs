//! rvsd's TOML config on arbitrary text: a value or an error naming a line, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = rvs_core::config::parse(std::path::Path::new("fuzz.toml"), text) {
            assert!(e.line <= text.lines().count() + 1, "error line {} beyond the text", e.line);
        }
    }
});
