"""Several nodes on one database: bindings moving between nodes, and change barriers for
read-your-writes.
"""
