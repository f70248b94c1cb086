from dixit.cli import main

main()
