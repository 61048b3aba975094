"""Entry policies: which strategy slot may open, and which strikes a candidate gets."""
