"""`python -m app` is the `chairside` command."""

from app.cli import main

raise SystemExit(main())
