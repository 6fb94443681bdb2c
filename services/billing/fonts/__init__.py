"""DejaVu Sans (fonts-dejavu-core 2.37, Debian), embedded in billing's PDFs; see LICENSE.txt."""
