"""The analysis layer: a study folder read into tidy tables, statistics, figures and REPORT.md.

`collect` reads trial folders, `stats` holds the numerics (median/IQR, bootstrap,
probability of improvement, performance profiles), `cells` summarises and
compares cells, `findings` writes the conclusions, `figures` draws, and
`report.write_report` puts it all in `results/<study>/`.
"""
