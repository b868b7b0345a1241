"""The written data standards in executable form: identifier checks, overload rules, code tables.

Pure Python with no Spark: the same regexes and tables feed the Spark row rules, the test oracles
and the synthetic source generator, so the three cannot drift apart.
"""
