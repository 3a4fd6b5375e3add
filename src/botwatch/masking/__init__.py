"""One masking contract: what counts as personal data or a secret, and where it is masked.

* :mod:`~botwatch.masking.normalise` reads a string the one way every
  detector works on (escapes decoded, Unicode digits, dashes, spaces and
  invisible characters folded), keeping offsets into the original;
* :mod:`~botwatch.masking.phones`, :mod:`~botwatch.masking.emails`,
  :mod:`~botwatch.masking.secrets` find them there;
* :mod:`~botwatch.masking.detect` maps findings back to the original
  string, masks them and cuts long text without cutting one in half;
* :mod:`~botwatch.masking.table` says which parts of spans, log records,
  resources, scopes and metrics are masked, for every export path;
* :mod:`~botwatch.masking.logfilter` keeps secrets out of HTTP libraries'
  own log lines for botwatch's HTTP clients.

The keyed hash that turns a phone or e-mail into a stable client id lives
in :mod:`botwatch.pii`.
"""

from botwatch.masking.detect import Finding, cut, find, mask, suspect

__all__ = ["Finding", "cut", "find", "mask", "suspect"]
