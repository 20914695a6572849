from api.cli import main

main(prog_name="custody")
