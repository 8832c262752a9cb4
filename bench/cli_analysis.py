"""Commands over catalogs and results (cost, projection, capacity): added by later modules."""


def add_commands(sub) -> None:
    return None
