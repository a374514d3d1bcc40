from provisioning.app.cli import main

raise SystemExit(main())
