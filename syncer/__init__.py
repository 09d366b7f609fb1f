"""incident-syncer: one incident, one record, every tracker."""

__version__ = "0.1.0"
