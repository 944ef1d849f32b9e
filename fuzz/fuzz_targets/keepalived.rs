//! rvs-ctrl's keepalived.conf parser on arbitrary text: a config or errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rvs_ctrl::keepalived::load_str("fuzz.conf", text);
    }
});
