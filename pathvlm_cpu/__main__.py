"""`eval "$(python -m pathvlm_cpu env)"`: export what verl needs to run on the CPU backend."""

import argparse

from pathvlm_cpu.env import env, shell_exports


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pathvlm_cpu", description=__doc__)
    parser.add_argument("command", choices=["env"], help="print shell exports for a CPU run")
    parser.parse_args()
    print(shell_exports(env()))


if __name__ == "__main__":
    main()
