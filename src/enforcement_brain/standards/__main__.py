"""``python -m enforcement_brain.standards build|check`` (see :mod:`.build`)."""

from enforcement_brain.standards.build import main

raise SystemExit(main())
