"""What this charwise is and what it writes: its version and the run directory's format name and
version (every config.json and safetensors file carries both). A bottom module: the data layer
reads FORMAT to recognise run folders inside a text directory."""

__version__ = "0.1.0"
FORMAT = "charwise-run"
FORMAT_VERSION = 1
