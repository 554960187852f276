"""``python -m crm_core.cli``: the ``tongbu`` command without its console script."""

from crm_core.cli import main

main()
