"""Plain-numpy reference implementations, for reading and as a second oracle for the PyTorch model.

- `rnn`: the post's min-char-rnn (vanilla RNN, one-hot input, BPTT by hand, Adagrad, sampling);
  `charwise reference rnn FILE` trains it.
- `lstm`: a batched LSTM layer with a hand-written backward pass (after the post's lstm.py gist)
  and a character model on it equal to CharRNN(kind="lstm").
- `bridge`: weights and gradients to and from charwise's PyTorch CharRNN.
- `gradcheck`: finite-difference gradient checks.
"""

from . import bridge, gradcheck, lstm, rnn

__all__ = ["bridge", "gradcheck", "lstm", "rnn"]
