# Hostile: the module ends its process while being imported.
import os as _os

_os._exit(0)
