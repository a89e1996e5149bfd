from stylex.cli import main

raise SystemExit(main())
