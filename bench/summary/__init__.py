"""The pure maths of a case's own summary, over its raw request records and its trials: ``stats``
(mean, stdev, Student-t interval, Welch, the adaptive stopping rule), ``window`` (the full and the
steady-state window), ``slo`` (goodput and the SLO bisection), ``power`` (energy from power samples),
``rates`` (the phase rates $/M charges) and ``headline`` (the headline figures of a trial and where
each sits in a case summary).

``metrics`` (the request record and every per-request metric) and ``validity`` (a case's verdict) are here
too.

Measure imports it to write a case's summary; analysis imports it to read and compare summaries; results stores
its request records; it imports neither measure nor analysis (only ``bench.errors`` below it).
"""
