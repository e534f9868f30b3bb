"""Who gets which line: the pure engine and the store around it."""
