"""Historical option data from vendor files into the store (``v6 data import``)."""
