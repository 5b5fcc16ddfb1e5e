"""`python -m gantool_cli ...` is `gantool ...`; torchrun starts it this way: `torchrun ... -m gantool_cli train ...`."""

import sys

from gantool_cli.main import cli

sys.exit(cli(prog_name="gantool"))
