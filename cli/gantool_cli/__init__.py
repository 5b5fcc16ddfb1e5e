"""The `gantool` command line: a thin click layer over the gantool library."""
