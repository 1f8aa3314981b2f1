// Reference: a saturating 8-bit up/down counter with synchronous active-high reset.
module counter (
  input            clk,
  input            reset,
  input            up,
  input            en,
  output reg [7:0] count,
  output           at_limit
);
  always @(posedge clk)
    if (reset)
      count <= 8'd0;
    else if (en && up && count != 8'hFF)
      count <= count + 8'd1;
    else if (en && !up && count != 8'h00)
      count <= count - 8'd1;

  assign at_limit = (count == 8'hFF) || (count == 8'h00);
endmodule
