"""MINIM's feedback loop: batches to rate (``batch``), ratings in SQLite (``store``) and the
rating page (``server``).

    synthbench feedback sample shipped:minim-oct-brain_mri --prompts "OCT: drusen." -n 8 --out batch/
    synthbench feedback serve batch/          # prints http://127.0.0.1:8000/?token=...
    synthbench feedback export batch/ --format csv --out ratings.csv
"""
