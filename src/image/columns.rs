//! Column names of the tables an image bundle carries, taken from xCAT's
//! schema (`crate::db::schema`). manifest.xml elements are exactly these
//! names, so the manifest reader and writer check against them.

use crate::db::schema;

/// The columns of `table` in schema order; empty for a table the schema lacks.
pub fn of(table: &str) -> &'static [String] {
    schema::table(table).map_or(&[], |t| t.columns.as_slice())
}

/// Whether `column` is a column of `table`.
pub fn has(table: &str, column: &str) -> bool {
    of(table).iter().any(|c| c == column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tables_come_from_the_schema() {
        assert_eq!(of("osimage").len(), 23);
        assert_eq!(of("linuximage").len(), 24);
        assert!(has("kitcomponent", "genimage_postinstall"));
        assert!(has("litefile", "options"));
        assert!(!has("osimage", "name"));
        assert!(of("nosuchtable").is_empty());
    }
}
