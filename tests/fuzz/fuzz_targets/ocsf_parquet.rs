#![no_main]
// The ocsf_parquet parser on arbitrary bytes: it may reject, never panic or hang.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scanlake::ingest::parse_bytes(scanlake::ingest::InputFormat::OcsfParquet, data);
});
