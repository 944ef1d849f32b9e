//! Generates the DPDK bindings from the system DPDK (pkg-config `libdpdk`).
//!
//! * Link flags come from pkg-config. rustc links with `-Wl,--as-needed`, which is harmless:
//!   every librte_* we call into is referenced, and the PMDs are plugins that EAL dlopens
//!   from RTE_EAL_PMD_PATH at run time (they pull their own librte_* dependencies).
//! * bindgen parses `src/wrapper.h` with pkg-config's cflags (`-include rte_config.h`,
//!   `-march=corei7`, include paths).
//! * DPDK's hot-path API is `static inline` (rte_eth_rx_burst, rte_pktmbuf_alloc, ...).
//!   bindgen's `wrap_static_fns` writes a C file with an exported `<name>__extern` wrapper
//!   for each of them; we compile it with `cc` and the same cflags, and the Rust
//!   declarations link to the wrappers. Our macro shims in `src/helpers.h` go the same way.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let wrapper = manifest.join("src/wrapper.h");
    println!("cargo:rerun-if-changed=src/wrapper.h");
    println!("cargo:rerun-if-changed=src/helpers.h");
    println!("cargo:rerun-if-changed=build.rs");

    // Emits cargo:rustc-link-lib / -search lines for every librte_*.
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .expect("pkg-config could not find libdpdk (install libdpdk-dev)");
    // The libraries this crate's wrappers call directly, linked explicitly in case the
    // .pc file ever stops listing one of them.
    for l in [
        "rte_ethdev",
        "rte_mbuf",
        "rte_mempool",
        "rte_ring",
        "rte_net",
        "rte_eal",
        "rte_kvargs",
        "rte_bus_vdev",
    ] {
        println!("cargo:rustc-link-lib=dylib={l}");
    }

    // The raw cflags, `-include rte_config.h` and `-march=...` included, which the
    // pkg-config crate does not hand back.
    let cflags_out = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("running pkg-config --cflags libdpdk");
    assert!(cflags_out.status.success(), "pkg-config --cflags libdpdk failed");
    let mut cflags: Vec<String> =
        String::from_utf8(cflags_out.stdout).unwrap().split_whitespace().map(str::to_owned).collect();
    if cflags.is_empty() {
        cflags = lib.include_paths.iter().map(|p| format!("-I{}", p.display())).collect();
    }
    // rte_thread_register and friends were experimental in some releases.
    cflags.push("-DALLOW_EXPERIMENTAL_API".into());
    cflags.push(format!("-I{}", manifest.join("src").display()));

    let static_fns = out.join("static_fns");
    let bindings = bindgen::Builder::default()
        .header(wrapper.to_str().unwrap())
        .clang_args(&cflags)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .allowlist_function("rte_.*|rvs_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*|rte_.*|LCORE_ID_ANY|SOCKET_ID_ANY")
        // Packed structs that contain aligned members: rustc rejects their layout.
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_gtp_psc_.*")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&static_fns)
        .generate()
        .expect("bindgen failed on src/wrapper.h");
    bindings.write_to_file(out.join("bindings.rs")).expect("writing bindings.rs");

    let mut build = cc::Build::new();
    build.file(static_fns.with_extension("c")).include(&manifest).warnings(false);
    for f in &cflags {
        build.flag(f);
    }
    // DPDK's headers are full of casts -Wextra would flag; the file is generated.
    build.flag_if_supported("-Wno-deprecated-declarations");
    build.compile("rvs_dpdk_static_fns");
}
