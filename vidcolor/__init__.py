"""vidcolor: black-and-white films and photographs, back in colour."""

__version__ = "0.1.0"
