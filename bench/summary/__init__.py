"""The pure maths of a case's own summary, over its raw request records and its trials: ``stats``
(mean, stdev, Student-t interval, Welch, the adaptive stopping rule), ``window`` (the full and the
steady-state window), ``slo`` (goodput and the SLO bisection), ``power`` (energy from power samples),
``rates`` (the phase rates $/M charges) and ``headline`` (the headline figures of a trial and where
each sits in a case summary).

Measure imports it to write a case's summary; analysis imports it to read and compare summaries;
it imports neither (only ``bench.metrics`` and ``bench.errors`` below it). ``bench.metrics`` and
``bench.validity`` belong here too, and join once their rewrite lands.
"""
