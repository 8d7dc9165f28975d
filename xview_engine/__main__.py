import sys

from xview_engine.cli.main import main

sys.exit(main())
