"""Documentation generated from the code (CLI reference), kept in docs/ between markers; tests
fail when the committed docs drift from what this package generates."""
