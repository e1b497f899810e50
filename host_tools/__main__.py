import sys

from host_tools.commands.cli import main

sys.exit(main())
