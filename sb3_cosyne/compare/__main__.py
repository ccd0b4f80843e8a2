from sb3_cosyne.compare.cli import main

main()
