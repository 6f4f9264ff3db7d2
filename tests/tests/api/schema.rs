//! The checked-in `schema.graphql` is the schema the server serves.

#[test]
fn schema_graphql_matches_the_exported_sdl() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();

    let exported = wavegate::graphql::sdl();

    assert!(
        checked_in == exported,
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql`"
    );
}
