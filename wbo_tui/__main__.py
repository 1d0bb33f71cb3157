from wbo_tui.cli import main

main()
