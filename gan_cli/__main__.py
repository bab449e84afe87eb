"""`python -m gan_cli train ...`: the `gan` command, for launchers that start a module
(torchrun -m gan_cli train ...)."""

from gan_cli.cli import main

main()
