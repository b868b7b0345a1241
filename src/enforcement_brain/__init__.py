"""enforcement-brain: the data lake of a city transport-enforcement agency.

Sources land, load into Delta (bronze → silver, with quarantine), are checked against the agency's
two written data standards, and are published as shared datasets through governed interfaces.
"""

__version__ = "0.1.0"
