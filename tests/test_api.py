"""The package's lazy top-level API."""

import subprocess
import sys


def test_api_functions_stay_functions_after_their_modules_are_imported():
    # A fresh interpreter: in this one the submodules are imported already. Importing the
    # submodule `charwise.train` makes it a package attribute, which shadowed the function.
    code = (
        "import inspect, charwise\n"
        "first = charwise.train\n"
        "import charwise.train, charwise.evaluate, charwise.commands.train\n"
        "for f in (first, charwise.train, charwise.train, charwise.evaluate, charwise.resume):\n"
        "    assert inspect.isfunction(f), f\n"
        "from charwise import train, evaluate\n"
        "assert inspect.isfunction(train) and inspect.isfunction(evaluate)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
