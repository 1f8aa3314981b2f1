"""A Gymnasium loop over the starter suite with a scripted stand-in for an LLM.

The "policy" first answers with a subtly broken design, then, given the environment's
feedback, with the correct one; swap ``scripted_policy`` for a call to your model.

    python examples/gym_loop.py --episodes 5 --max-turns 2
"""

from __future__ import annotations

import argparse

import gymnasium

import verilog_env


def scripted_policy(messages: list[dict[str, str]], golden: str) -> str:
    attempt = sum(m["role"] == "assistant" for m in messages)
    code = golden if attempt else golden.replace("endmodule", "wire _unused = 1'b0 ^ ; endmodule", 1)
    return f"<think>Attempt {attempt + 1}.</think><answer>```verilog\n{code}\n```</answer>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--max-turns", type=int, default=2)
    parser.add_argument("--suite", default="starter")
    args = parser.parse_args()

    env = gymnasium.make(verilog_env.ENV_ID, suite=args.suite, max_turns=args.max_turns)
    for episode in range(args.episodes):
        messages, info = env.reset(seed=episode)
        golden = env.unwrapped.problem.golden  # only the scripted policy peeks at the answer
        total = 0.0
        while True:
            messages, reward, terminated, truncated, info = env.step(scripted_policy(messages, golden))
            total += reward
            print(f"episode {episode} [{info['problem_id']}] turn {info['turn']}: {info['status']} (reward {reward:g})")
            if terminated or truncated:
                break
        print(f"episode {episode}: return {total:g}")
    env.close()


if __name__ == "__main__":
    main()
