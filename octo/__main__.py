from octo.cli.main import main

raise SystemExit(main())
