"""One ComponentResource per area (``XxxArgs`` dataclass + component), plus pure manifest builders."""
