from certembed.cli import main

raise SystemExit(main())
