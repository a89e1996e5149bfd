"""AttFind."""
