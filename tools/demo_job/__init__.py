"""The pieces of tools/demo.py: what it prints (``output``), how it talks
to the stack (``cloud``), and its steps (``steps``)."""
